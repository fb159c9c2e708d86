# Stand-in for redis:7.4-alpine (no registry here): Debian's redis-server, which takes the same
# command line as the production file's. /data belongs to the redis user, as in the official image.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
WORKDIR /data
