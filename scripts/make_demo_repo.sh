#!/usr/bin/env bash
# Make the experiment demo repo: a git repo (branch main) holding examples/tiny-train/train.py.
#   scripts/make_demo_repo.sh /tmp/tiny-train
set -euo pipefail
target=${1:?usage: scripts/make_demo_repo.sh DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -e "$target" ]; then
    echo "make_demo_repo: $target exists; choose a new folder" >&2
    exit 1
fi
mkdir -p "$target"
cp "$here/examples/tiny-train/train.py" "$target/"
git -C "$target" init -q -b main
git -C "$target" add train.py
git -C "$target" -c user.name=voicedesk -c user.email=voicedesk@localhost commit -qm "tiny-train"
echo "$target: a git repo with train.py on main"
