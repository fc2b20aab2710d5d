/*
 * stringify.h: a macro's value as a string literal, for pasting a constant into SQL or a
 * script argument at compile time (STRINGIFY(RECOVER_BATCH) is "100" when RECOVER_BATCH is
 * 100), so the number is written once, in its #define.
 */
#ifndef TASKBUS_SHARED_STRINGIFY_H
#define TASKBUS_SHARED_STRINGIFY_H

#define STRINGIFY(x) STRINGIFY_TEXT_(x)
#define STRINGIFY_TEXT_(x) #x

#endif
