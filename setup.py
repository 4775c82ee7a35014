"""Packages of the wheel (metadata lives in pyproject.toml).

Every ``tracer*`` package is found automatically; the case and entity files of ``addresses/`` and
the sandbox contracts of ``contracts/`` (sources, build script, compiled artifacts) ship inside the
package as ``tracer._addresses`` and ``tracer._contracts``, where :func:`tracer.cases.addresses_dir`
and :mod:`tracer.sandbox.anvil` look when there is no source tree around them. pyproject.toml's
``[tool.setuptools]`` table cannot map a folder outside the package into it while also finding
packages, hence this file.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

SHIPPED = {"tracer._addresses": "addresses", "tracer._contracts": "contracts"}
for package, folder in list(SHIPPED.items()):  # their subfolders are (data) packages too
    for sub in sorted(Path(folder).rglob("*")):
        if sub.is_dir() and not any(p.startswith((".", "_")) for p in sub.parts):
            SHIPPED[".".join((package, *sub.relative_to(folder).parts))] = sub.as_posix()

setup(
    packages=sorted(find_namespace_packages(include=["tracer", "tracer.*"]) + list(SHIPPED)),
    package_dir=SHIPPED,
    # the files of each package: [tool.setuptools.package-data] in pyproject.toml
)
