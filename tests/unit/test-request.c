/* Unit tests for daemon/request/request.c and act.c: the pipeline as a
 * front door other than the socket uses it (no protocol message): a quiet
 * call that no rule allows leaves no record and no request id behind; a
 * quiet call that a rule allows is recorded like any other; a refused
 * call is recorded; a bind of the caller's own socket binds that socket
 * and hands back no new one.  Runs as root (the acts do). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "policy.h"
#include "request.h"
#include "userdb.h"

static char dir[64], log_path[128];
static struct userdb db;
static struct policy pol;
static struct audit *aud;
static struct request_ctx ctx;

static int setup(void **state)
{
        (void)state;
        char text[1024], err[512];

        strcpy(dir, "/tmp/test-request.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(log_path, sizeof(log_path), "%s/audit.log", dir);
        snprintf(text, sizeof(text),
                 "allow 1000 mkdir %s/ok/*\n"                  /* 1 */
                 "allow 1000 bind unix:%s/*\n"                 /* 2 */
                 "allow 1000 bind tcp:127.0.0.1:1024-65535\n", /* 3 */
                 dir, dir);
        char sub[128];
        snprintf(sub, sizeof(sub), "%s/ok", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        if (policy_parse(&pol, "t.conf", text, strlen(text), &db, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        struct audit_config cfg = {.path = log_path};
        if (audit_open(&aud, &cfg, NULL, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        ctx = (struct request_ctx){.policy = &pol, .audit = aud, .max_chown_entries = 1000};
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        char cmd[128];
        audit_close(aud);
        policy_free(&pol);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

/* Lines in the audit log. */
static int records(void)
{
        FILE *f = fopen(log_path, "r");
        int n = 0, ch;
        assert_non_null(f);
        while ((ch = fgetc(f)) != EOF)
                n += ch == '\n';
        fclose(f);
        return n;
}

/* The last record of the log, in buf. */
static const char *last_record(char *buf, size_t len)
{
        FILE *f = fopen(log_path, "r");
        assert_non_null(f);
        buf[0] = '\0';
        while (fgets(buf, (int)len, f))
                ;
        fclose(f);
        return buf;
}

/* A call from uid 1000 through the syscall door. */
static void call_new(struct sd_call *call, enum sd_op op, const char *path)
{
        call_init(call);
        call->via = "syscall";
        call->syscall = op == SD_OP_BIND ? "bind" : "mkdir";
        call->rq.op = op;
        call->rq.uid = 1000;
        call->rq.gid = 1000;
        call->pid = getpid();
        call->tid = getpid();
        if (path)
                snprintf(call->path, sizeof(call->path), "%s", path);
        else
                call->rq.path = NULL;
}

static void test_quiet_no_rule(void **state)
{
        (void)state;
        struct sd_call call;
        struct sd_result res;
        char path[128], rec[4096];
        struct stat st;

        /* No rule allows it: NO_RULE, nothing recorded, no id used up,
         * nothing done. */
        snprintf(path, sizeof(path), "%s/elsewhere", dir);
        call_new(&call, SD_OP_MKDIR, path);
        call.quiet_no_rule = true;
        result_init(&res);
        int before = records();
        uint64_t id = ctx.last_request_id;
        request_run(&ctx, &call, &res);
        assert_int_equal(res.kind, SD_RES_NO_RULE);
        assert_int_equal(records(), before);
        assert_int_equal(ctx.last_request_id, id);
        assert_int_equal(stat(path, &st), -1);
        result_done(&res);

        /* A rule allows it: done, with its intent and outcome records. */
        snprintf(path, sizeof(path), "%s/ok/made", dir);
        call_new(&call, SD_OP_MKDIR, path);
        call.quiet_no_rule = true;
        result_init(&res);
        request_run(&ctx, &call, &res);
        assert_int_equal(res.kind, SD_RES_OK);
        assert_int_equal(res.rule_line, 1);
        assert_int_equal(records(), before + 2);
        assert_int_equal(ctx.last_request_id, id + 1);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_uid, 1000);
        assert_non_null(strstr(last_record(rec, sizeof(rec)), "\"decision\":\"allow\""));
        result_done(&res);

        /* Not quiet: refused, and the refusal is recorded. */
        snprintf(path, sizeof(path), "%s/elsewhere", dir);
        call_new(&call, SD_OP_MKDIR, path);
        result_init(&res);
        request_run(&ctx, &call, &res);
        assert_int_equal(res.kind, SD_RES_REFUSED);
        assert_int_equal(res.err, EACCES);
        assert_int_equal(records(), before + 3);
        assert_non_null(strstr(last_record(rec, sizeof(rec)), "\"decision\":\"deny\""));
        assert_int_equal(stat(path, &st), -1);
        result_done(&res);
}

static void test_bind_own_unix_socket(void **state)
{
        (void)state;
        struct sd_call call;
        struct sd_result res;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stat st;

        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/app.sock", dir);
        call_new(&call, SD_OP_BIND, sa.sun_path);
        call.rq.family = AF_UNIX;
        call.rq.socktype = SOCK_STREAM;
        call.sock_fd = s;
        result_init(&res);
        request_run(&ctx, &call, &res);
        assert_int_equal(res.kind, SD_RES_OK);
        assert_int_equal(res.fd, -1); /* the caller's own socket: no new one */
        assert_int_equal(stat(sa.sun_path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_uid, 1000);
        /* It is s that was bound: a client reaches it once s listens. */
        assert_int_equal(listen(s, 1), 0);
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
        int a = accept(s, NULL, NULL);
        assert_true(a >= 0);
        close(a);
        close(c);
        close(s);
        result_done(&res);
}

static void test_bind_own_tcp_socket(void **state)
{
        (void)state;
        struct sd_call call;
        struct sd_result res;
        struct sockaddr_in sin = {.sin_family = AF_INET};
        socklen_t sl = sizeof(sin);

        /* A free port, from the kernel. */
        int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(t, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(t, (struct sockaddr *)&sin, &sl), 0);
        unsigned port = ntohs(sin.sin_port);
        close(t);

        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        call_new(&call, SD_OP_BIND, NULL);
        strcpy(call.addr, "127.0.0.1");
        call.rq.addr = call.addr;
        call.rq.family = AF_INET;
        call.rq.socktype = SOCK_STREAM;
        call.rq.port = port;
        call.sock_fd = s;
        result_init(&res);
        request_run(&ctx, &call, &res);
        if (res.kind != SD_RES_OK)
                fail_msg("bind 127.0.0.1:%u: %s", port, res.msg);
        assert_int_equal(res.fd, -1);
        struct sockaddr_in got;
        sl = sizeof(got);
        assert_int_equal(getsockname(s, (struct sockaddr *)&got, &sl), 0);
        assert_int_equal(ntohs(got.sin_port), port);
        assert_int_equal(got.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        close(s);
        result_done(&res);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_quiet_no_rule),
            cmocka_unit_test(test_bind_own_unix_socket),
            cmocka_unit_test(test_bind_own_tcp_socket),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
