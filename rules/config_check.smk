# Before `configfile:`: a YAML syntax error in config.yaml names the file and line. (Snakemake
# reads --configfile files before this code runs; check those with `make check-config`.)
from pathlib import Path as _Path

from snakemake.exceptions import WorkflowError as _WorkflowError


def _stdlib_module(name):
    """A package module without package imports, loaded by path: the parse needs no installed
    package (the env's package may be older than this checkout)."""
    import importlib.util

    # the workflow's own folder (parent of rules/), also when it runs as a module, where
    # workflow.basedir is the user's folder; without a local src/, the installed package
    here = workflow.current_basedir.get_path_or_uri(secret_free=True).rstrip("/")
    path = _Path(here).parent / "src" / "ketamine_bzd" / f"{name}.py"
    if not path.is_file():
        found = importlib.util.find_spec("ketamine_bzd")
        if found is not None and found.submodule_search_locations:
            path = _Path(next(iter(found.submodule_search_locations))) / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_ketamine_bzd_{name}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _check_config_yaml(path):
    yaml_check = _stdlib_module("yaml_check")
    try:
        yaml_check.check_yaml_file(path)
    except yaml_check.ConfigSyntaxError as err:
        raise _WorkflowError(str(err))


if _Path("config.yaml").exists():
    _check_config_yaml("config.yaml")
