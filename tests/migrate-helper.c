/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrate-helper.c: a management app's side of two daemons under test (the
 * contract is migrate-helper.h)
 */
#include <config.h>

#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "tests/migrate-helper.h"

/*
 * Runs @command with @args (JSON text, nullable) on a control socket; with
 * fds, over a connection of its own (one line and its fds in one sendmsg).
 * Returns: the "return" value (a new node), or NULL with @error set.
 */
JsonNode *
vmig_test_execute_fds(VmigGuestMonitor *ctl, VmigTestDaemon *d, const char *command,
                      const char *args, const int *fds, gsize n_fds, GError **error)
{
    g_autoptr(JsonNode) node = args ? json_from_string(args, NULL) : NULL;
    JsonNode *ret = NULL;

    if (n_fds) {
        static const char negotiate[] = "{\"execute\": \"qmp_capabilities\"}\n";
        g_autofree char *line = g_strdup_printf(
            "{\"execute\": \"%s\", \"arguments\": %s, \"id\": \"fd\"}\n", command, args);
        g_auto(VmigFd) sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        GIOChannel *io;
        g_autofree char *greeting = NULL, *reply = NULL;
        g_autoptr(JsonNode) parsed = NULL;
        JsonObject *o;

        strcpy(addr.sun_path, d->socket);
        g_assert_cmpint(connect(sock, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
        io = g_io_channel_unix_new(sock);
        g_io_channel_read_line(io, &greeting, NULL, NULL, NULL);
        g_assert_nonnull(strstr(greeting, "\"QMP\""));
        /* QMP: no command before capabilities negotiation; no event either. */
        g_assert_true(
            vmig_fdpass_send_all(sock, negotiate, strlen(negotiate), NULL, 0, NULL));
        g_io_channel_read_line(io, &reply, NULL, NULL, NULL);
        g_assert_cmpstr(reply, ==, "{\"return\":{}}\n");
        g_assert_true(vmig_fdpass_send_all(sock, line, strlen(line), fds, n_fds, NULL));
        /* Events go to every client, this one too: skip them. */
        for (;;) {
            g_clear_pointer(&reply, g_free);
            g_clear_pointer(&parsed, json_node_unref);
            g_io_channel_read_line(io, &reply, NULL, NULL, NULL);
            g_assert_nonnull(reply);
            parsed = json_from_string(reply, NULL);
            o = json_node_get_object(parsed);
            if (!json_object_has_member(o, "event"))
                break;
        }
        g_io_channel_unref(io);
        if (json_object_has_member(o, "error")) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND, "%s",
                        json_object_get_string_member(
                            json_object_get_object_member(o, "error"), "desc"));
            return NULL;
        }
        return json_node_copy(json_object_get_member(o, "return"));
    }
    if (!vmig_guest_monitor_execute(ctl, command,
                                    node ? json_node_get_object(node) : NULL,
                                    VMIG_TEST_WAIT_MS, &ret, error))
        return NULL;
    return ret;
}

/* Runs a command that answers {"migration": ID}.  Returns: the id (to free). */
char *
vmig_test_execute_id(VmigGuestMonitor *ctl, VmigTestDaemon *d, const char *command,
                     const char *args, const int *fds, gsize n_fds)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret =
        vmig_test_execute_fds(ctl, d, command, args, fds, n_fds, &error);

    g_assert_no_error(error);
    return g_strdup(
        json_object_get_string_member(json_node_get_object(ret), "migration"));
}

/* Returns: the data of the next event @name on @ctl (a new reference). */
JsonObject *
vmig_test_wait_event(VmigGuestMonitor *ctl, const char *name)
{
    g_autoptr(GError) error = NULL;
    JsonObject *data = NULL;

    g_assert_true(
        vmig_guest_monitor_wait_event(ctl, name, VMIG_TEST_WAIT_MS, &data, &error));
    g_assert_no_error(error);
    return data;
}

/* Waits for MIGRATION_DONE on @ctl and checks its result.  Returns: its error (to free).
 */
char *
vmig_test_wait_done(VmigGuestMonitor *ctl, const char *result)
{
    g_autoptr(JsonObject) done = vmig_test_wait_event(ctl, "MIGRATION_DONE");

    if (!g_str_equal(json_object_get_string_member(done, "result"), result))
        g_error("migration ended '%s' (%s), expected '%s'",
                json_object_get_string_member(done, "result"),
                json_object_get_string_member_with_default(done, "error", ""), result);
    return g_strdup(json_object_get_string_member_with_default(done, "error", NULL));
}

/* Returns: the run status of the guest behind monitor @qmp (to free). */
char *
vmig_test_guest_status(const char *qmp)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    if (!vmig_guest_qmp(qmp, "query-status", NULL, &ret, &error))
        g_error("query-status on '%s': %s", qmp, error->message);
    return g_strdup(json_object_get_string_member(json_node_get_object(ret), "status"));
}

/*
 * Returns: the run status of the guest behind @qmp once it has left
 * finish-migrate (to free).  QEMU sends its "completed" event before its
 * migration thread moves the source to postmigrate: a status read just
 * after MIGRATION_DONE may still be finish-migrate for a moment.
 */
char *
vmig_test_guest_status_settled(const char *qmp)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    char *status;

    while (g_str_equal((status = vmig_test_guest_status(qmp)), "finish-migrate") &&
           g_get_monotonic_time() < deadline) {
        g_free(status);
        g_usleep(10 * 1000);
    }
    return status;
}

gboolean
vmig_test_migration_running(const char *status)
{
    static const char *const running[] = {"setup",      "active",         "device",
                                          "cancelling", "pre-switchover", NULL};

    return g_strv_contains(running, status);
}

char *
vmig_test_migration_status(VmigTestQemu *qemu, const char *aux)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    if (!vmig_guest_qmp(aux, "query-migrate", NULL, &ret, &error)) {
        /* No answer: a QEMU that ended is reaped (5 s at most). */
        if (vmig_test_qemu_wait(qemu, 5000))
            return g_strdup("gone");
        g_error("query-migrate on %s: %s", aux, error->message);
    }
    return g_strdup(json_object_get_string_member_with_default(json_node_get_object(ret),
                                                               "status", ""));
}

char *
vmig_test_migration_settle(VmigTestQemu *qemu, const char *aux, guint seconds)
{
    gint64 deadline = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
    char *status;

    while (
        vmig_test_migration_running((status = vmig_test_migration_status(qemu, aux))) &&
        g_get_monotonic_time() < deadline) {
        g_free(status);
        g_usleep(50 * 1000);
    }
    return status;
}

void
vmig_test_expect_hello(int fd)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    char hello[4];
    gsize have = 0;

    while (have < sizeof(hello)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        gssize n;

        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        n = recv(fd, hello + have, sizeof(hello) - have, MSG_DONTWAIT);
        g_assert_cmpint(n, >, 0);
        have += (gsize)n;
    }
    g_assert_cmpmem(hello, sizeof(hello), "VMGH", 4);
}

VmigGuestMonitor *
vmig_test_control_open(VmigTestDaemon *d)
{
    g_autoptr(GError) error = NULL;
    VmigGuestMonitor *monitor =
        vmig_guest_monitor_open(d->socket, VMIG_TEST_WAIT_MS, &error);

    g_assert_no_error(error);
    return monitor;
}

char *
vmig_test_domain_of(VmigTestQemu *qemu)
{
    return g_strdup_printf("qmp:%s", qemu->qmp_path);
}

guint16
vmig_test_free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    g_auto(VmigFd) sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(getsockname(sock, (struct sockaddr *)&addr, &len), ==, 0);
    return ntohs(addr.sin_port);
}
