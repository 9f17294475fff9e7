from cargohold.cli.main import main

main()
