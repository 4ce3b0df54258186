"""Builds the Cython accrual kernel (native/_accrual.pyx); everything else is in pyproject.toml.

Set LOYALTY_PUREPYTHON=1 to skip the extension (the pure-Python reference is
used then). A machine without a C compiler also gets a working install: the
build failure is reported and the package falls back to the reference.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class optional_build_ext(build_ext):
    """Build the kernel if possible; never fail the install because of it."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            if ext.name == "native._sqlite_rows":
                sys.stderr.write(
                    f"\nWARNING: the import writer's C rows were not built ({exc}).\n"
                    "The receipt import binds its rows through Python's sqlite3 (same rows, slower).\n"
                    "Debian: apt-get install libsqlite3-dev, then reinstall.\n\n"
                )
                return
            self._warn(exc)

    def _warn(self, exc):
        sys.stderr.write(
            f"\nWARNING: the Cython kernel was not built ({exc}).\n"
            "loyalty-edge will use the pure-Python reference calculator (same results, slower).\n"
            "Debian: apt-get install build-essential python3-dev, then reinstall.\n\n"
        )


def extensions():
    if os.environ.get("LOYALTY_PUREPYTHON") or not os.path.exists("native/_accrual.pyx"):
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    openmp = [] if sys.platform == "darwin" else ["-fopenmp"]
    ext = Extension(
        "native._accrual",
        ["native/_accrual.pyx"],
        extra_compile_args=["-O3", *openmp],
        extra_link_args=openmp,
    )
    # the receipt import's writer process binds its rows in C (central/storage/import_writer.py; optional)
    rows = Extension(
        "native._sqlite_rows", ["native/_sqlite_rows.pyx"], extra_compile_args=["-O2"], libraries=["sqlite3"]
    )
    return cythonize([ext, rows], language_level=3, compiler_directives={"embedsignature": True})


setup(ext_modules=extensions(), cmdclass={"build_ext": optional_build_ext})
