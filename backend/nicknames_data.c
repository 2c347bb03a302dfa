/*
 * nicknames_data.c: data/nicknames.tsv, embedded in the program so that no data path is needed at
 * run time.  The bytes are assembled in as they are, followed by a NUL, as rg_nicknames_tsv (names.h).
 * make runs from the top of the tree, so the path is relative to it, and the Makefile makes this
 * object depend on the file so that editing the table rebuilds it.
 */
#include "names.h"

__asm__(".section .rodata\n"
        " .global rg_nicknames_tsv\n"
        " .type rg_nicknames_tsv, @object\n"
        "rg_nicknames_tsv:\n"
        " .incbin \"data/nicknames.tsv\"\n"
        " .byte 0\n"
        " .size rg_nicknames_tsv, . - rg_nicknames_tsv\n"
        " .previous\n");
