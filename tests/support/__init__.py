from pathlib import Path

# The checkout's root.
REPO = Path(__file__).resolve().parents[2]
