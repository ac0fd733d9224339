/* PLACEHOLDER */
typedef int berth_placeholder_server;
