/*
 * agent_tools.h - each agent is an MCP tool agent_<name> on /mcp (issue 8).
 *
 * A dynamic provider of the tool registry (tools_set_dynamic()): tools/list
 * shows, after every other tool, one tool per agent of the request's
 * environment (the agents table: one query, then kept per worker until a
 * trigger on agents notifies a change, see authcache_agents_gen()) to
 * a principal with tools.call and agents.run there, with Station's dynamic
 * agent server's input schema {input: string (required), variables:
 * object} and the agent's description. Agents whose names are no valid MCP
 * tool names ([A-Za-z0-9_.-] only) are not served.
 *
 * A call queues a run (runner_enqueue(), source "mcp") as the calling
 * user, in the request's environment, with input as the task, and waits
 * for it (tools_wait_run()) up to mcp.agent_wait_seconds: each step and
 * tool call of the run is a progress notification (and an info log
 * message) on the call's stream; a client that goes away or cancels
 * cancels the run (runner_cancel()). A finished run answers with its final
 * response as text and structuredContent {run_id, agent, status, steps,
 * ...}; a failed or cancelled run is an isError result with its error; a
 * run still going when the wait is up is a plain result with its run id,
 * to be followed with get_run. A principal without a Berth user (local
 * mode) cannot queue runs: a run acts as the user who queued it.
 *
 * Owns nothing but a process-wide registration; not thread-safe.
 */
#ifndef BERTH_AGENT_TOOLS_H
#define BERTH_AGENT_TOOLS_H

/* The tool name prefix: agent_<name>. */
#define AGENT_TOOLS_PREFIX "agent_"

/* Registers the provider with the tool registry (berth-fcgi's start-up,
 * before any request; never in run workers, so that an agent cannot
 * start agents and a worker never waits on another worker). */
void agent_tools_register(void);

/* Unregisters it (and frees the registry's cached schema). */
void agent_tools_unregister(void);

#endif
