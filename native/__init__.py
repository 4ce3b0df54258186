"""Compiled kernels. ``_accrual`` is the Cython accrual calculator (see shared/accrual.py)."""
