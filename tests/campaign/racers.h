/* Racers for issue 11 (items 1 and 4), run by campaign.c next to its other
 * workers.  Each is configured from the environment run-campaign.sh sets;
 * an unset variable skips that racer.
 *
 *   CAMPAIGN_BIND_DIR        a directory the application owns, named by an
 *                            `allow app bind unix:DIR/` + `*` rule
 *   CAMPAIGN_RESTART_POLICY  a policy whose `socket` lies in
 *   CAMPAIGN_RESTART_DIR     (the socket directory; its parent is the
 *                            application's), restarted with STEPDOWND
 *   CAMPAIGN_RESTART_TARGET  a root-only directory (0700) the racer points
 *                            the socket directory at, holding a stale
 *                            socket of root's named sd.sock (made if
 *                            missing) and no sd.key */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct racer_counts {
        unsigned long bind_tries, bind_served, bind_wins, bind_first_win, bind_swaps;
        unsigned long restarts, restarts_ready, restart_wins, restart_first_win, restart_swaps;
        bool bind_ran, restart_ran;
};

/* Shared memory for the counts (MAP_SHARED, zeroed), or NULL. */
struct racer_counts *racers_counts_new(void);

/* Starts the racers that are configured, each in its own process (root;
 * the attacking halves drop to uid:gid).  dial_auth connects to the broker
 * under test and authenticates (as uid:gid), returning the fd or -1.
 * Returns how many pids were stored in pids (at most 2). */
int racers_start(struct racer_counts *rc, double until, uid_t uid, gid_t gid,
                 int (*dial_auth)(void), pid_t pids[2]);

/* Prints the counts; returns the number of findings: wins, and each racer
 * that ran but raced less than its minimum times scale (a racer that did
 * not race proves nothing: a broker refusing every bind would pass). */
int racers_report(const struct racer_counts *rc, double scale);
