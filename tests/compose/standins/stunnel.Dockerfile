# A TLS terminator in front of the stand-in broker (Tansu serves plaintext only), for Kafka over
# mutual TLS in the compose tests: Debian's stunnel4, TLS on 9093 with the certificates mounted at
# /run/tls, client certificates required, plaintext to kafka:19092 (resolved per connection, so a
# recreated broker is found). Runs as the stunnel4 user.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stunnel4 \
 && rm -rf /var/lib/apt/lists/* \
 && printf '%s\n' 'foreground = yes' 'pid =' '[kafka]' 'accept = 0.0.0.0:9093' 'connect = kafka:19092' 'delay = yes' \
      'cert = /run/tls/server.pem' 'key = /run/tls/server.key' 'CAfile = /run/tls/ca.pem' \
      'verifyChain = yes' 'requireCert = yes' > /etc/stunnel/kafka.conf
USER stunnel4
ENTRYPOINT ["stunnel4", "/etc/stunnel/kafka.conf"]
