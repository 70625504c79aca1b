#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "stepdown";

void log_init(const char *program)
{
        const char *slash = strrchr(program, '/');
        prog = slash ? slash + 1 : program;
}

const char *log_program(void)
{
        return prog;
}

static void vlog(const char *level, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vlog(const char *level, int err, const char *fmt, va_list ap)
{
        char buf[4096];
        int n = vsnprintf(buf, sizeof(buf), fmt, ap);
        if (n < 0)
                buf[0] = '\0';
        if (err)
                fprintf(stderr, "%s: %s%s: %s\n", prog, level, buf, strerror(err));
        else
                fprintf(stderr, "%s: %s%s\n", prog, level, buf);
}

void log_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vlog("", 0, fmt, ap);
        va_end(ap);
}

void log_warn(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vlog("warning: ", 0, fmt, ap);
        va_end(ap);
}

int log_error_errno(int err, const char *fmt, ...)
{
        va_list ap;
        err = abs(err);
        va_start(ap, fmt);
        vlog("", err, fmt, ap);
        va_end(ap);
        return -err;
}
