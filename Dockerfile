# One image for every tier: the stylizer, the interpolator and the client differ by command.
#   CPU:  docker build -t mvstylizer:cpu .
#   GPU:  docker build -t mvstylizer:gpu --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 .
# The demo client also needs the sample media packages: --build-arg REQUIREMENTS=requirements-dev.txt
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG REQUIREMENTS=requirements.txt

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt requirements-dev.txt ./
# torch==2.13.0 from the chosen PyTorch index (CPU or CUDA build); everything else from PyPI.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" --extra-index-url https://pypi.org/simple \
        -r "${REQUIREMENTS}"

COPY mvstylizer_common ./mvstylizer_common
COPY protos ./protos
COPY services ./services
COPY client ./client

# Services listen on every interface inside the container; ports as in docker-compose.yml.
ENV MVS_STYLIZER_HOST=0.0.0.0 MVS_INTERPOLATOR_HOST=0.0.0.0
EXPOSE 50051 50052
USER nobody
CMD ["python", "-m", "services.stylizer", "--host", "0.0.0.0", "--port", "50051"]
