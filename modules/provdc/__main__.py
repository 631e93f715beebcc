from provdc.cli import main

main()
