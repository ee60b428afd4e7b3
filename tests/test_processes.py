"""How `paneas.services.processes` words a process's end, in process (no child started)."""

from paneas.services.processes import exit_description, tail_report


def test_an_exit_code_and_a_signal_are_named():
    assert exit_description(0) == "exited with code 0"
    assert exit_description(1) == "exited with code 1"
    assert exit_description(-9) == "exited with signal SIGKILL (code -9)"


def test_the_last_lines_carry_the_process_name():
    assert tail_report("llm", ["loading", "FileNotFoundError: x"]) == [
        "last 2 lines of llm:",
        "  llm | loading",
        "  llm | FileNotFoundError: x",
    ]
    assert tail_report("asr-0", []) == ["asr-0 wrote nothing"]
