# One image for indexing and training, with the CUDA build of the pinned torch (pyproject.toml).
#   docker build -t caption-search .                      (the deploy pipeline: az acr build)
#   docker run --gpus all caption-search drain-queue      (the Container Apps job's command)
#   docker run --gpus all --entrypoint torchrun caption-search --nproc-per-node 1 -m training.train ...
# The entrypoint is the indexing command line; `--entrypoint torchrun` (or python) runs training.
# No secret is baked in: in Azure every credential is the job's managed identity (AZURE_CLIENT_ID).
FROM python:3.11.11-slim-bookworm

# Kept equal to pyproject.toml's torch pin (tests/infra/test_container_image.py checks it); the CUDA
# wheels bring their own CUDA runtime, the GPU driver comes from the host.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libgomp1: torch and ONNX Runtime threads; libcairo2: cairosvg (training's drawings corpus);
# tesseract: the optional OCR stage (INDEX_OCR).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libgomp1 libcairo2 tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
WORKDIR /app

# torch first, from the CUDA index, so that the extras below find it satisfied and pull no other build.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}" \
        --extra-index-url https://pypi.org/simple

COPY pyproject.toml README.md ./
COPY core/ core/
COPY demo/ demo/
COPY function_app/ function_app/
COPY indexing/ indexing/
COPY training/ training/
RUN pip install ".[indexing,training]" "torch==${TORCH_VERSION}" \
    && python -c "import torch, indexing.cli, training.model"

# Caches (the exported text encoder, Ray's spill) go to the user's home, not into /app.
ENV HOME=/home/app
USER 10001
ENTRYPOINT ["python", "-m", "indexing.cli"]
CMD ["drain-queue", "--no-progress"]
