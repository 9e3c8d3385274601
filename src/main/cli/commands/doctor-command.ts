import type { Command } from 'commander';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('which hypervisor `auto` picks here and why, what is missing, whether a daemon runs')
    .option('--json', 'print the report as JSON')
    .action(async (options: { json?: boolean }) => (await import('../doctor.js')).runDoctor(options));
}
