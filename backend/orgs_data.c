/*
 * orgs_data.c: data/organisations.csv, embedded in the program so that `regfs init` needs no data
 * path at run time.  The bytes are assembled in as they are, followed by a NUL, as
 * rg_default_orgs_csv (import.h).  make runs from the top of the tree, so the path is relative to
 * it, and the Makefile makes this object depend on the file so that editing the list rebuilds it.
 */
#include "import.h"

__asm__(".section .rodata\n"
        " .global rg_default_orgs_csv\n"
        " .type rg_default_orgs_csv, @object\n"
        "rg_default_orgs_csv:\n"
        " .incbin \"data/organisations.csv\"\n"
        " .byte 0\n"
        " .size rg_default_orgs_csv, . - rg_default_orgs_csv\n"
        " .previous\n");
