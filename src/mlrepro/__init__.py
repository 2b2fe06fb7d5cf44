"""mlrepro: reproducible machine-learning pipelines on DVC and Git."""

__version__ = "0.1.0"
