"""Files in, index out: locally (refresh.py) or on a Ray cluster (distributed.py)."""
