"""sslsv: why does self-supervised speech pre-training help speaker verification?"""

__version__ = "0.1.0"
