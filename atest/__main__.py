# Before anything heavy is imported: a torchrun worker must not outlive its launcher (ranks.py).
from atest.core.training.run.ranks import die_with_launcher

die_with_launcher()

from atest.cli import main  # noqa: E402

main()
