from yanex.cli.app import main

main()
