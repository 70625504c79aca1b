/* Logging for the programs (daemon, CLI).  Library code in common/ does
 * not log; it returns -errno and, where useful, a message buffer. */
#pragma once

#include <stdarg.h>

void log_init(const char *program);
const char *log_program(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs "program: message: strerror(err)" and returns -abs(err). */
int log_error_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
