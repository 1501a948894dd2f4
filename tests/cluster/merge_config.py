"""Deep-merge a YAML overlay into a Snakemake config file, in place.

Usage: python merge_config.py CONFIG.yaml OVERLAY.yaml
Mappings merge key by key; any other value (lists included) is replaced; a key set to null
(``~``) in the overlay is removed (how tests/config-test.yaml trims the multiverse grid).
"""

import sys
from pathlib import Path

import yaml


def deep_merge(base: dict, overlay: dict) -> dict:
    """``overlay`` over ``base``: mappings key by key, other values replaced, null removes."""
    merged = dict(base)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def main(config_path: str, overlay_path: str) -> None:
    config = yaml.safe_load(Path(config_path).read_text())
    overlay = yaml.safe_load(Path(overlay_path).read_text()) or {}
    Path(config_path).write_text(yaml.safe_dump(deep_merge(config, overlay), sort_keys=False))


if __name__ == "__main__":
    main(*sys.argv[1:])
