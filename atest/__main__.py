from atest.cli import main

main()
