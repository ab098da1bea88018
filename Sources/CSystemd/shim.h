#ifndef HELPLINE_CSYSTEMD_SHIM_H
#define HELPLINE_CSYSTEMD_SHIM_H
// sd-journal, sd-bus and sd-daemon. The functions Helpline calls are all non-variadic
// (sd_bus_call + sd_bus_message_read_basic instead of the variadic sd_bus_call_method /
// sd_bus_message_read), so no shim functions are needed here.
#include <systemd/sd-journal.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>
#endif
