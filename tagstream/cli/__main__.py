from tagstream.cli.app import main

main()
