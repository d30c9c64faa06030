from mapperdb.cli import main

main()
