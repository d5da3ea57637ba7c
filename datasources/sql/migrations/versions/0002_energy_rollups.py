"""energy rollups: per-device and per-station minute/hour/day rollups, recorder watermark

Tables and columns are documented in :mod:`datasources.sql.energy_models` (bucket_ts = bucket start, epoch s UTC;
day buckets start at 00:00 China Standard Time, UTC+8).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 04:50:35.969547
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('energy_device_day',
    sa.Column('device_id', sa.String(length=48), nullable=False),
    sa.Column('bucket_ts', sa.BigInteger(), nullable=False),
    sa.Column('station_id', sa.String(length=32), nullable=False),
    sa.Column('week_ts', sa.BigInteger(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('temp_max', sa.Float(), nullable=True),
    sa.Column('running_hours_h', sa.Float(), nullable=True),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('flow_sum', sa.Float(), nullable=False),
    sa.Column('power_sum', sa.Float(), nullable=False),
    sa.Column('air_m3', sa.Float(), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('covered_s', sa.Float(), nullable=False),
    sa.Column('loaded_s', sa.Float(), nullable=False),
    sa.Column('unloaded_s', sa.Float(), nullable=False),
    sa.Column('stopped_s', sa.Float(), nullable=False),
    sa.Column('fault_s', sa.Float(), nullable=False),
    sa.Column('unloaded_kwh', sa.Float(), nullable=False),
    sa.Column('pressure_min', sa.Float(), nullable=True),
    sa.Column('pressure_max', sa.Float(), nullable=True),
    sa.Column('gaps', sa.Integer(), nullable=False),
    sa.Column('resets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'bucket_ts'),
    sqlite_with_rowid=False,  # clustered by the primary key on SQLite (ignored by PostgreSQL)
    )
    with op.batch_alter_table('energy_device_day', schema=None) as batch_op:
        batch_op.create_index('ix_energy_device_day_station', ['station_id', 'bucket_ts'], unique=False)

    op.create_table('energy_device_hour',
    sa.Column('device_id', sa.String(length=48), nullable=False),
    sa.Column('bucket_ts', sa.BigInteger(), nullable=False),
    sa.Column('station_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('temp_max', sa.Float(), nullable=True),
    sa.Column('running_hours_h', sa.Float(), nullable=True),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('flow_sum', sa.Float(), nullable=False),
    sa.Column('power_sum', sa.Float(), nullable=False),
    sa.Column('air_m3', sa.Float(), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('covered_s', sa.Float(), nullable=False),
    sa.Column('loaded_s', sa.Float(), nullable=False),
    sa.Column('unloaded_s', sa.Float(), nullable=False),
    sa.Column('stopped_s', sa.Float(), nullable=False),
    sa.Column('fault_s', sa.Float(), nullable=False),
    sa.Column('unloaded_kwh', sa.Float(), nullable=False),
    sa.Column('pressure_min', sa.Float(), nullable=True),
    sa.Column('pressure_max', sa.Float(), nullable=True),
    sa.Column('gaps', sa.Integer(), nullable=False),
    sa.Column('resets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'bucket_ts'),
    sqlite_with_rowid=False,  # clustered by the primary key on SQLite (ignored by PostgreSQL)
    )
    with op.batch_alter_table('energy_device_hour', schema=None) as batch_op:
        batch_op.create_index('ix_energy_device_hour_station', ['station_id', 'bucket_ts'], unique=False)

    op.create_table('energy_device_minute',
    sa.Column('device_id', sa.String(length=48), nullable=False),
    sa.Column('bucket_ts', sa.BigInteger(), nullable=False),
    sa.Column('station_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('temp_max', sa.Float(), nullable=True),
    sa.Column('running_hours_h', sa.Float(), nullable=True),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('flow_sum', sa.Float(), nullable=False),
    sa.Column('power_sum', sa.Float(), nullable=False),
    sa.Column('air_m3', sa.Float(), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('covered_s', sa.Float(), nullable=False),
    sa.Column('loaded_s', sa.Float(), nullable=False),
    sa.Column('unloaded_s', sa.Float(), nullable=False),
    sa.Column('stopped_s', sa.Float(), nullable=False),
    sa.Column('fault_s', sa.Float(), nullable=False),
    sa.Column('unloaded_kwh', sa.Float(), nullable=False),
    sa.Column('pressure_min', sa.Float(), nullable=True),
    sa.Column('pressure_max', sa.Float(), nullable=True),
    sa.Column('gaps', sa.Integer(), nullable=False),
    sa.Column('resets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'bucket_ts'),
    sqlite_with_rowid=False,  # clustered by the primary key on SQLite (ignored by PostgreSQL)
    )
    with op.batch_alter_table('energy_device_minute', schema=None) as batch_op:
        batch_op.create_index('ix_energy_device_minute_bucket', ['bucket_ts'], unique=False)
        batch_op.create_index('ix_energy_device_minute_station', ['station_id', 'bucket_ts'], unique=False)

    op.create_table('energy_station_day',
    sa.Column('station_id', sa.String(length=32), nullable=False),
    sa.Column('bucket_ts', sa.BigInteger(), nullable=False),
    sa.Column('week_ts', sa.BigInteger(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('comp_air_m3', sa.Float(), nullable=False),
    sa.Column('comp_energy_kwh', sa.Float(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('flow_sum', sa.Float(), nullable=False),
    sa.Column('power_sum', sa.Float(), nullable=False),
    sa.Column('air_m3', sa.Float(), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('covered_s', sa.Float(), nullable=False),
    sa.Column('loaded_s', sa.Float(), nullable=False),
    sa.Column('unloaded_s', sa.Float(), nullable=False),
    sa.Column('stopped_s', sa.Float(), nullable=False),
    sa.Column('fault_s', sa.Float(), nullable=False),
    sa.Column('unloaded_kwh', sa.Float(), nullable=False),
    sa.Column('pressure_min', sa.Float(), nullable=True),
    sa.Column('pressure_max', sa.Float(), nullable=True),
    sa.Column('gaps', sa.Integer(), nullable=False),
    sa.Column('resets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('station_id', 'bucket_ts'),
    sqlite_with_rowid=False,  # clustered by the primary key on SQLite (ignored by PostgreSQL)
    )
    with op.batch_alter_table('energy_station_day', schema=None) as batch_op:
        batch_op.create_index('ix_energy_station_day_bucket', ['bucket_ts'], unique=False)
    if op.get_context().dialect.name == 'postgresql':
        # covering indexes: trend queries become index-only scans (SQLite tables are clustered by their key)
        op.create_index('ix_energy_station_day_cover', 'energy_station_day', ['station_id', 'bucket_ts'],
                        postgresql_include=['air_m3', 'energy_kwh'])

    op.create_table('energy_station_hour',
    sa.Column('station_id', sa.String(length=32), nullable=False),
    sa.Column('bucket_ts', sa.BigInteger(), nullable=False),
    sa.Column('comp_air_m3', sa.Float(), nullable=False),
    sa.Column('comp_energy_kwh', sa.Float(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('flow_sum', sa.Float(), nullable=False),
    sa.Column('power_sum', sa.Float(), nullable=False),
    sa.Column('air_m3', sa.Float(), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('covered_s', sa.Float(), nullable=False),
    sa.Column('loaded_s', sa.Float(), nullable=False),
    sa.Column('unloaded_s', sa.Float(), nullable=False),
    sa.Column('stopped_s', sa.Float(), nullable=False),
    sa.Column('fault_s', sa.Float(), nullable=False),
    sa.Column('unloaded_kwh', sa.Float(), nullable=False),
    sa.Column('pressure_min', sa.Float(), nullable=True),
    sa.Column('pressure_max', sa.Float(), nullable=True),
    sa.Column('gaps', sa.Integer(), nullable=False),
    sa.Column('resets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('station_id', 'bucket_ts'),
    sqlite_with_rowid=False,  # clustered by the primary key on SQLite (ignored by PostgreSQL)
    )
    if op.get_context().dialect.name == 'postgresql':
        op.create_index('ix_energy_station_hour_cover', 'energy_station_hour', ['station_id', 'bucket_ts'],
                        postgresql_include=['air_m3', 'energy_kwh'])

    op.create_table('energy_station_minute',
    sa.Column('station_id', sa.String(length=32), nullable=False),
    sa.Column('bucket_ts', sa.BigInteger(), nullable=False),
    sa.Column('comp_air_m3', sa.Float(), nullable=False),
    sa.Column('comp_energy_kwh', sa.Float(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('flow_sum', sa.Float(), nullable=False),
    sa.Column('power_sum', sa.Float(), nullable=False),
    sa.Column('air_m3', sa.Float(), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('covered_s', sa.Float(), nullable=False),
    sa.Column('loaded_s', sa.Float(), nullable=False),
    sa.Column('unloaded_s', sa.Float(), nullable=False),
    sa.Column('stopped_s', sa.Float(), nullable=False),
    sa.Column('fault_s', sa.Float(), nullable=False),
    sa.Column('unloaded_kwh', sa.Float(), nullable=False),
    sa.Column('pressure_min', sa.Float(), nullable=True),
    sa.Column('pressure_max', sa.Float(), nullable=True),
    sa.Column('gaps', sa.Integer(), nullable=False),
    sa.Column('resets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('station_id', 'bucket_ts'),
    sqlite_with_rowid=False,  # clustered by the primary key on SQLite (ignored by PostgreSQL)
    )
    with op.batch_alter_table('energy_station_minute', schema=None) as batch_op:
        batch_op.create_index('ix_energy_station_minute_bucket', ['bucket_ts'], unique=False)

    op.create_table('recorder_station_state',
    sa.Column('station_id', sa.String(length=32), nullable=False),
    sa.Column('last_ts_ms', sa.BigInteger(), nullable=False),
    sa.Column('last_entry_id', sa.String(length=40), nullable=False),
    sa.Column('devices', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('station_id')
    )


def downgrade() -> None:
    op.drop_table('recorder_station_state')
    with op.batch_alter_table('energy_station_minute', schema=None) as batch_op:
        batch_op.drop_index('ix_energy_station_minute_bucket')

    op.drop_table('energy_station_minute')
    op.drop_table('energy_station_hour')
    with op.batch_alter_table('energy_station_day', schema=None) as batch_op:
        batch_op.drop_index('ix_energy_station_day_bucket')

    op.drop_table('energy_station_day')
    with op.batch_alter_table('energy_device_minute', schema=None) as batch_op:
        batch_op.drop_index('ix_energy_device_minute_station')
        batch_op.drop_index('ix_energy_device_minute_bucket')

    op.drop_table('energy_device_minute')
    with op.batch_alter_table('energy_device_hour', schema=None) as batch_op:
        batch_op.drop_index('ix_energy_device_hour_station')

    op.drop_table('energy_device_hour')
    with op.batch_alter_table('energy_device_day', schema=None) as batch_op:
        batch_op.drop_index('ix_energy_device_day_station')

    op.drop_table('energy_device_day')
