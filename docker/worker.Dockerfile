FROM python:3.11-slim
WORKDIR /app
# CPU torch for the tagstream package's trainer dependency; the worker itself never runs the model.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY tagstream tagstream
COPY stream stream
COPY trainer trainer
RUN pip install --no-cache-dir .
ENTRYPOINT ["tagstream"]
CMD ["worker"]
