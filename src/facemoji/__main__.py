from facemoji.cli import console

console()
