"""site record: partner contact, idle-station lease figures, construction milestones on stations

Partner contact person and phone of the station's partner (合作方); for idle stations (空闲站房) the contracted and
the market monthly lease of the station room (CNY/month) and the first idle day; for stations under construction the
construction milestones (建设节点, JSON text). All optional: existing rows get "" / NULL. See
:class:`datasources.sql.models.Station` and :mod:`datasources.sql.site_queries`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _station_columns() -> list[sa.Column]:
    return [
    sa.Column('partner_contact', sa.String(length=64), nullable=False, server_default=''),
    sa.Column('partner_phone', sa.String(length=32), nullable=False, server_default=''),
    sa.Column('lease_cny_month', sa.Float(), nullable=True),
    sa.Column('market_lease_cny_month', sa.Float(), nullable=True),
    sa.Column('idle_since', sa.Date(), nullable=True),
    sa.Column('build_milestones', sa.Text(), nullable=False, server_default=''),
    ]


def upgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        for col in _station_columns():
            batch_op.add_column(col)


def downgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        for col in reversed(_station_columns()):
            batch_op.drop_column(col.name)
