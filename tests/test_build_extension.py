"""The shipped extension zip: the demo console's matches and adapter set stay out of it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from scripts.build_extension import EXTENSION, build


def test_a_built_zip_leaves_out_the_demo_console(tmp_path: Path) -> None:
    target = build(tmp_path, for_store=False)
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    [scripts] = manifest["content_scripts"]
    assert scripts["matches"] == [
        "https://qn.taobao.com/*",
        "https://myseller.taobao.com/*",
        "https://dongdong.jd.com/*",
        "https://mms.pinduoduo.com/chat-merchant/*",
    ]
    assert scripts["run_at"] == "document_start"
    assert "adapters/demo.json" not in names
    assert {"adapters/dongdong.json", "adapters/pdd.json", "adapters/qianniu.json"} <= names
    # The unpacked tree keeps the demo for trying the extension on /demo.
    assert (EXTENSION / "adapters" / "demo.json").exists()
    source = json.loads((EXTENSION / "manifest.json").read_text("utf-8"))
    assert "http://127.0.0.1/demo*" in source["content_scripts"][0]["matches"]
