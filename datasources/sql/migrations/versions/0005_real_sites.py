"""real sites: stations.simulated, per-device transport settings

Stations that exist when this runs came from the demo seed (no registry existed before), so they are marked
``simulated``; stations registered later default to real (``simulated = false``) and are never served by the
simulator. Device transport columns: see :class:`datasources.sql.fleet_spec.DeviceSpec`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

def _device_columns() -> list[sa.Column]:
    return [
    sa.Column('transport', sa.String(length=16), nullable=False, server_default='tcp'),
    sa.Column('baudrate', sa.Integer(), nullable=False, server_default='9600'),
    sa.Column('parity', sa.String(length=1), nullable=False, server_default='N'),
    sa.Column('stopbits', sa.Integer(), nullable=False, server_default='1'),
    sa.Column('bytesize', sa.Integer(), nullable=False, server_default='8'),
    sa.Column('timeout_s', sa.Float(), nullable=True),
    sa.Column('retries', sa.Integer(), nullable=True),
    sa.Column('offline_after', sa.Integer(), nullable=True),
    sa.Column('poll_interval_s', sa.Float(), nullable=True),
    sa.Column('max_gap', sa.Integer(), nullable=True),
    sa.Column('max_registers_per_read', sa.Integer(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('simulated', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE stations SET simulated = :t").bindparams(t=True))
    with op.batch_alter_table('devices', schema=None) as batch_op:
        for col in _device_columns():
            batch_op.add_column(col)


def downgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        for col in reversed(_device_columns()):
            batch_op.drop_column(col.name)
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_column('simulated')
