"""basicsr_fixes.apply(settings): each run in a process gets the replacements of its own settings."""
import sys

import basicsr.test
from conftest import released_test_options, set5_dataset, write_yaml

from igan_basicsr import basicsr_fixes
from igan_basicsr.basicsr_fixes import RunSettings


def test_a_second_run_in_the_process_parses_with_its_own_settings(tmp_path, monkeypatch):
    opt = released_test_options('two_sets')
    opt['datasets']['test_2'] = dict(set5_dataset(), name='Set5_again')
    monkeypatch.setattr(sys, 'argv', ['basicsr test', '-opt', write_yaml(tmp_path / 'two.yml', opt)])

    def test_sets():
        parsed, _ = basicsr.test.parse_options(str(tmp_path), is_train=False)
        return [ds['name'] for ds in parsed['datasets'].values()]

    basicsr_fixes.apply(RunSettings(only=['Set5_again']))
    assert test_sets() == ['Set5_again']
    # Made from basicsr's parse_options again, not from the first run's replacement (which would keep its --only).
    basicsr_fixes.apply(RunSettings())
    assert test_sets() == ['Set5', 'Set5_again']
