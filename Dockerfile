# Lambda container image for fund-data-sync: handler.lambda_handler (lambda/handler.py).
#
# Python 3.12 on Amazon Linux 2023 (glibc 2.34): the locked wheels need manylinux_2_28
# (cchardet), which the python:3.11 image (Amazon Linux 2, glibc 2.26) cannot load.
# The install step is lambda/install.sh, the very script tests/test_lambda_image.py runs
# into a fresh directory before invoking the handler from there (no Docker engine needed).
#
#   docker build -t fundsync-lambda .                      # x86_64
#   docker build --build-arg LAMBDA_PLATFORM=aarch64-manylinux_2_34 --platform linux/arm64 .
FROM public.ecr.aws/lambda/python:3.12

ARG LAMBDA_PLATFORM=x86_64-manylinux_2_34
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

COPY pyproject.toml uv.lock README.md /build/
COPY loader /build/loader
COPY lambda /build/lambda
RUN UV=/usr/local/bin/uv PYTHON=/var/lang/bin/python3.12 LAMBDA_PLATFORM=${LAMBDA_PLATFORM} \
      /build/lambda/install.sh "${LAMBDA_TASK_ROOT}" \
 && rm -rf /build /root/.cache

CMD ["handler.lambda_handler"]
