from ventanilla.cli import main

if __name__ == "__main__":  # not when a parsing process imports it as __mp_main__
    main()
