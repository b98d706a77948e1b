# Lambda container image for fund-data-sync (AWS Lambda Python 3.11 base).
# Dependencies come from uv.lock (no dev group); the loader is installed as a package.
FROM public.ecr.aws/lambda/python:3.11

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

WORKDIR ${LAMBDA_TASK_ROOT}
COPY pyproject.toml uv.lock README.md ./
COPY loader ./loader
RUN uv export --frozen --no-dev --no-emit-project -o /tmp/requirements.txt \
 && uv pip install --system --no-cache -r /tmp/requirements.txt \
 && uv pip install --system --no-cache --no-deps .

COPY lambda/ ./

# The handler (lambda/handler.py, CONTRACT §3) lands with the pipeline stage.
CMD ["handler.lambda_handler"]
