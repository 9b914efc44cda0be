"""The benchmark's data: `rasa_messaging.generate` (the package's own generator), as a script.

    python bench/generate.py --conversations 100000 --seed 1 > events.jsonl
"""

from rasa_messaging.generate import main

if __name__ == "__main__":
    main()
