"""WaLLoC for PyTorch data pipelines: transforms, IO and datasets in torchvision / torchaudio style."""
