// Logging as CMK did (`LEVEL:cmk:message`, one line each), filtered by a level. The line goes to
// whatever writer the process gives (stderr for the CLI), so servers can log through it too.
import { usageError } from "../core/errors.ts";

const levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export type Level = (typeof levels)[number];

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

export function levelFromEnv(value: string | undefined): Level {
  if (value === undefined || value === "") return "INFO";
  const upper = value.trim().toUpperCase();
  const level = upper === "WARN" ? "WARNING" : upper === "FATAL" ? "CRITICAL" : upper;
  if (!(levels as readonly string[]).includes(level)) {
    throw usageError(`CMK_LOG_LEVEL="${value}" is not a log level; use one of ${levels.join(", ")}`);
  }
  return level as Level;
}

export function createLogger(threshold: Level, write: (line: string) => void): Logger {
  const minimum = levels.indexOf(threshold);
  const at =
    (level: Level) =>
    (message: string): void => {
      if (levels.indexOf(level) >= minimum) write(`${level}:cmk:${message}\n`);
    };
  return { debug: at("DEBUG"), info: at("INFO"), warning: at("WARNING"), error: at("ERROR") };
}
