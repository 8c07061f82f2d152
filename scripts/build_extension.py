"""Zip the extension into dist/kefu-assist-<version>.zip (reproducible: sorted, fixed timestamps).

python scripts/build_extension.py          # for sideloading / enterprise policy (keeps `key`)
python scripts/build_extension.py --store  # for the Chrome Web Store, which assigns the key

The unpacked tree (what the tests load) also runs on the server's /demo page; a built zip does
not: the demo's content-script matches and its adapter set are left out of every build.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "extension"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # zip entries carry no build-machine clock
DEMO_MATCHES = ("http://127.0.0.1/demo*", "http://localhost/demo*")
DEMO_FILES = ("adapters/demo.json",)


def production_manifest(manifest: dict) -> dict:
    """The manifest without the demo console's matches (a shop's agents never need them)."""
    scripts = [
        {**entry, "matches": [m for m in entry["matches"] if m not in DEMO_MATCHES]}
        for entry in manifest["content_scripts"]
    ]
    return {**manifest, "content_scripts": scripts}


def build(out_dir: Path, for_store: bool) -> Path:
    manifest = production_manifest(json.loads((EXTENSION / "manifest.json").read_text("utf-8")))
    if for_store:
        # The store refuses uploads with a `key`; it keeps the item's own.
        manifest.pop("key", None)
    suffix = "-store" if for_store else ""
    target = out_dir / f"kefu-assist-{manifest['version']}{suffix}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(
        p
        for p in EXTENSION.rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and p.relative_to(EXTENSION).as_posix() not in DEMO_FILES
    )
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            name = path.relative_to(EXTENSION).as_posix()
            if name == "manifest.json":
                data = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
            else:
                data = path.read_bytes()
            entry = zipfile.ZipInfo(name, FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--store", action="store_true", help="drop the manifest key")
    args = parser.parse_args(argv)
    print(build(args.out, args.store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
