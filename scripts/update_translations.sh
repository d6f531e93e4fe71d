#!/usr/bin/env bash
# Refresh the message catalog after changing user-facing text, then check it is complete.
#
#   scripts/update_translations.sh
#
# 1. extracts every message id from app/**.py and templates/** (babel.cfg) into
#    app/translations/messages.pot;
# 2. merges the template into each language's messages.po (`pybabel update`): existing
#    translations are kept, new ids arrive empty, ids whose English changed a little arrive
#    "fuzzy" with the old translation (and the old id, #| msgid) as a suggestion, and ids no
#    longer in the code are dropped (git keeps their history);
# 3. prints every untranslated or fuzzy entry and every placeholder mismatch, and exits
#    non-zero if there is any;
# 4. compiles the .mo files the app reads (git-ignored; `make translations` does the same).
#
# How to add a user-facing string:
#   - Python: `from flask_babel import gettext as _` for text built during a request, or
#     `lazy_gettext as _l` for text defined at import time (form labels, module constants).
#     Templates: {{ _("Upcoming events") }}. The id is the English text, written in full:
#     never build it by concatenation or from a variable, or it cannot be extracted.
#   - Values go in named placeholders: _("Deadline: %(when)s", when=...); %(n)d for numbers.
#     In templates a literal percent sign must be written %% (Flask-Babel formats every
#     template message). Counts that change the English wording use ngettext
#     (lazy_ngettext), which Japanese fills with its one form.
#   - One English word with two meanings ("Cancelled" event vs registration) gets a context:
#     pgettext("registration status", "Cancelled") (lazy_pgettext), so each is translated apart.
#   - Run this script, translate the new entries in app/translations/ja/LC_MESSAGES/messages.po
#     (msgstr; remove the "#, fuzzy" line once a suggestion is checked), run it again until it
#     reports nothing, and commit messages.pot and messages.po (never the .mo).
#   - tests/test_translations.py fails while the .pot is stale or an entry is missing.
#
# Keep the extract options in step with tests/test_translations.py (EXTRACT_ARGS).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${VENV:-.venv}/bin
PYBABEL=${PYBABEL:-$BIN/pybabel}
PYTHON=${PYTHON:-$BIN/python}
TRANSLATIONS=app/translations
POT=$TRANSLATIONS/messages.pot
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)

"$PYBABEL" -q extract -F babel.cfg -k _l -k lazy_gettext \
    -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2 -k lazy_npgettext:1c,2,3 \
    --ignore-dirs '.* venv node_modules' \
    --no-location --sort-output --project Tsudoi --version "${VERSION:-0}" \
    -o "$POT" .

"$PYBABEL" -q update -i "$POT" -d "$TRANSLATIONS" --previous --ignore-obsolete

status=0
"$PYTHON" - "$POT" "$TRANSLATIONS" <<'PY' || status=$?
"""Print untranslated, fuzzy and placeholder-mismatched entries of every catalog."""
import sys
from pathlib import Path

from babel.messages.pofile import read_po

pot_path, root = Path(sys.argv[1]), Path(sys.argv[2])
with pot_path.open("rb") as f:
    template = read_po(f)
wanted = [m for m in template if m.id]
problems = 0
for po_path in sorted(root.glob("*/LC_MESSAGES/messages.po")):
    with po_path.open("rb") as f:
        catalog = read_po(f)
    locale = po_path.parts[-3]
    for message in wanted:
        entry = catalog.get(message.id, message.context)
        first_id = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = [] if entry is None else (
            list(entry.string) if isinstance(entry.string, tuple) else [entry.string])
        if entry is None or not all(strings):
            problems += 1
            print(f"{locale}: untranslated: {first_id!r}")
        elif entry.fuzzy:
            problems += 1
            print(f"{locale}: fuzzy: {first_id!r}")
    for message, errors in catalog.check():
        for error in errors if not message.fuzzy else ():
            problems += 1
            print(f"{locale}: {error}: {message.id!r}")
if problems:
    print(f"{problems} problem(s): translate the entries above in the .po file(s).")
sys.exit(1 if problems else 0)
PY

"$PYBABEL" -q compile -d "$TRANSLATIONS"
exit "$status"
