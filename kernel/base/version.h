/* version.h — labbook's version (the Makefile reads it for labbook.pc). */
#ifndef LB_VERSION_H
#define LB_VERSION_H

#define LB_VERSION "0.1.0"

#endif
