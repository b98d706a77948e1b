#!/usr/bin/env bash
# Install the Lambda function into TARGET: the locked runtime dependencies (uv.lock, no dev
# group) as wheels for Lambda's platform, the loader package and the handler, all precompiled
# (Lambda's /var/task is read-only, so Python could not cache bytecode there at run time).
#
#   lambda/install.sh TARGET
#
# The Dockerfile runs exactly this into ${LAMBDA_TASK_ROOT}; tests/test_lambda_image.py runs it
# into a fresh directory and invokes the handler from there.
#
#   UV               the uv binary (default: uv on PATH)
#   PYTHON           the interpreter to compile for (default: python3.12, the image's)
#   LAMBDA_PLATFORM  wheel platform (default x86_64-manylinux_2_34: Amazon Linux 2023, glibc 2.34)
set -euo pipefail

target="${1:?usage: lambda/install.sh TARGET}"
root="$(cd "$(dirname "$0")/.." && pwd)"
uv="${UV:-uv}"
python="${PYTHON:-python3.12}"
platform="${LAMBDA_PLATFORM:-x86_64-manylinux_2_34}"
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$target"

"$uv" export --project "$root" --frozen --no-dev --no-emit-project --no-header \
  --format requirements-txt --output-file "$work/requirements.txt" --quiet
"$uv" pip install --quiet --target "$target" --python "$python" --python-version "$version" \
  --python-platform "$platform" --only-binary :all: --require-hashes --no-deps \
  --compile-bytecode --requirements "$work/requirements.txt"

rm -rf "$target/loader"
cp -R "$root/loader" "$target/loader"
# development helpers (throwaway server, sample generator, demo) and the command line are
# not the function's: the handler never imports them (the architecture contract checks it)
rm -rf "$target/loader/devtools" "$target/loader/cli"
cp "$root/lambda/handler.py" "$target/handler.py"
find "$target/loader" -name '__pycache__' -prune -exec rm -rf {} +
"$python" -m compileall -q "$target/loader" "$target/handler.py"
